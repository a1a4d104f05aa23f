"""Where generations run, in the main window: this computer, or ComfyUI server(s).

Mixed into MainWindow. Generations follow the chosen backend; the latent explorer (blends, walks,
trajectories) always runs on this computer's engine, since a ComfyUI server sends no latents back.
What a backend cannot do is greyed out with its reason, from its capabilities.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from sdstudio.bridge.backends import comfy_backend
from sdstudio.bridge.protocol import Backend, Capability
from sdstudio.errors import SdStudioError
from sdstudio.ui.backend_dialog import TOKEN_VARIABLE, BackendDialog


class BackendActions:
    """Methods of MainWindow (see the module docstring); they use the window's widgets and models."""

    def backend_dialog(self) -> BackendDialog:
        """Settings > Backend...: choose, connect, and see what failed (the dialog stays open)."""
        dialog = BackendDialog(self.settings.comfy_urls, self._comfy_token, self.settings.backend == "comfyui", self)
        dialog.connect_requested.connect(lambda urls, token: self._connect_from(dialog, urls, token))
        dialog.local_requested.connect(lambda: (self.use_local_backend(), dialog.accept()))
        dialog.open()
        return dialog

    def _connect_from(self, dialog: BackendDialog, urls: list[str], token: str) -> None:
        async def attempt() -> None:
            if await self.connect_comfy(urls, token):
                dialog.accept()
            else:
                dialog.say(self.notice.text())

        self._backend_task = asyncio.ensure_future(attempt())  # kept: the loop holds tasks only weakly

    async def connect_comfy(self, urls: list[str], token: str = "") -> bool:
        """Connect to the ComfyUI server(s) and generate there from now on; a failure is one line
        in the notice bar and the current backend stays."""
        self.backend_label.setText(f"Connecting to {', '.join(urls)}...")
        try:
            backend = await comfy_backend(urls, self.output_dir, token, self)
        except SdStudioError as error:
            self.backend_label.setText(self.backend.name)
            self.show_message(str(error))
            return False
        self._comfy_token = token
        self.settings.backend, self.settings.comfy_urls = "comfyui", list(urls)
        self.store.changed()
        self.use_backend(backend)
        self.show_message(f"Generating on ComfyUI: {', '.join(urls)}", "info")
        return True

    def _reconnect_comfy(self) -> None:
        """At start: the servers chosen last time (token from SDSTUDIO_BACKEND_TOKEN); this computer if
        they cannot be reached."""
        async def attempt() -> None:
            if not await self.connect_comfy(self.settings.comfy_urls, os.environ.get(TOKEN_VARIABLE, "")):
                self.show_message(f"{self.notice.text()} - generating on this computer", "warning")
                if (info := self.controls.model_picker.current_info()) is not None:
                    self._preload(info)

        self._backend_task = asyncio.ensure_future(attempt())  # kept: the loop holds tasks only weakly

    def use_local_backend(self) -> None:
        self.settings.backend = "local"
        self.store.changed()
        self.use_backend(self.local_backend)

    def use_backend(self, backend: Backend) -> None:
        """Generations go to `backend` from now on (running ones finish where they are)."""
        old = self.backend
        if backend is old:
            return
        self._detach_backend(old)
        if old is not self.local_backend:
            old.close()
        self.backend = backend
        self.jobs.backend = backend
        self._attach_backend(backend)
        self.rescan_models()

    def _attach_backend(self, backend: Backend) -> None:
        backend.model_loading.connect(self._on_model_loading)
        backend.model_ready.connect(self._on_model_ready)
        backend.status_changed.connect(self._on_backend_status)
        backend.models_changed.connect(self.rescan_models)
        self.backend_label.setText(backend.name)
        self._apply_capabilities()

    def _detach_backend(self, backend: Backend) -> None:
        for signal, slot in ((backend.model_loading, self._on_model_loading),
                             (backend.model_ready, self._on_model_ready),
                             (backend.status_changed, self._on_backend_status),
                             (backend.models_changed, self.rescan_models)):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)

    def _on_backend_status(self, text: str) -> None:
        self.backend_label.setText(f"{self.backend.name}: {text}")

    def _apply_capabilities(self) -> None:
        """Grey out what the backend cannot do, saying why (the UI never asks which backend it is)."""
        capabilities = self.backend.capabilities
        for capability, widgets in ((Capability.VAE, (self.controls.vae,)),
                                    (Capability.HIRES, (self.controls.hires,)),
                                    (Capability.CLIP_SKIP, (self.controls.clip_skip,)),
                                    (Capability.LORA, (self.network_browser,)),
                                    (Capability.INPAINT, (self.extend_canvas_action,)),
                                    (Capability.MODEL_FOLDERS, (self.controls.add_model_button,
                                                                self.add_models_action))):
            available = capabilities.has(capability)
            for widget in widgets:
                own_tip = widget.property("ownToolTip")
                if own_tip is None:  # first time: remember the widget's own tooltip
                    own_tip = widget.toolTip()
                    widget.setProperty("ownToolTip", own_tip)
                widget.setEnabled(available)
                widget.setToolTip(own_tip if available else capabilities.reason(capability))
