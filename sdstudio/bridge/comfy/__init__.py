"""The ComfyUI backend: a stock ComfyUI server (core nodes only) as sdstudio's engine, local or remote.

Torch-free: HTTP and websocket with aiohttp, requests turned into API-format workflow graphs,
results written into our outputs folder with our A1111 parameters.
"""
