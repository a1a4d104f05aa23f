"""The bridge between the UI (or CLI) and whatever generates: typed jobs, one handle per job, backends.

Public to the UI: `jobs` (the typed job requests), `messages` (what comes back), `handle`
(`JobHandle`: one job's own result, progress/preview stream and cancel), `protocol` (`Backend`,
`Capability`), `queue` (`JobQueue`, the visible queue). The local engine backend lives in
`bridge.local` (the engine thread owns every torch object); a ComfyUI client in `bridge.comfy`.
"""
