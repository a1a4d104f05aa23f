"""The latent exploration panel: A/B interpolation with walks, the latent plane, the trajectory.

Embed `ExplorationPanel` (sdstudio.ui.exploration.panel) over a backend; its jobs are the typed
exploration jobs of sdstudio.bridge.jobs.
"""
