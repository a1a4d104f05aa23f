"""The local backend: an engine thread in this process that owns every torch object."""
