"""The latent exploration panel: A/B interpolation with walks, the latent plane, the trajectory.

Embed `ExplorationPanel` (sdstudio.ui.exploration.panel) and register the engine-side handlers
with `sdstudio.exploration_jobs.register_exploration_jobs` before the worker starts.
"""
