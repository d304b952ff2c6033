"""Model panel: see what is connected; deploy a zoo model or an uploaded checkpoint; connect to a server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from sightline.client.remote import RemoteModel, connect
from sightline.errors import InputError, SightlineError
from sightline.models.base import ModelInfo
from sightline.server.security import check_url
from sightline.ui.context import OWN_LABEL, AppContext
from sightline.ui.render import model_card
from sightline.ui.state import Connection, UserState, describe
from sightline.ui.uploads import uploaded_file

DEVICES = ["auto", "cpu", "cuda"]


@dataclass
class ModelPanel:
    card: gr.HTML
    zoo: gr.Dropdown
    device: gr.Radio
    deploy: gr.Button
    checkpoint: gr.File
    deploy_checkpoint: gr.Button
    url: gr.Textbox
    api_key: gr.Textbox
    connect: gr.Button
    use_own: gr.Button
    message: gr.Markdown


def build(ctx: AppContext) -> ModelPanel:
    card = gr.HTML(model_card(ctx.own_info, OWN_LABEL), elem_id="model-card")
    with gr.Accordion("Change model", open=False, elem_id="model-change"):
        with gr.Tabs():
            with gr.Tab("Deploy"):
                with gr.Row():
                    zoo = gr.Dropdown(ctx.zoo_names, value=ctx.own_info.name, label="Model from the zoo", scale=3, elem_id="zoo")
                    device = gr.Radio(DEVICES, value="auto", label="Device", scale=2, elem_id="device")
                deploy = gr.Button("Deploy", elem_id="deploy")
                checkpoint = gr.File(label="…or upload a sightline checkpoint (.pt)", file_types=[".pt", ".pth"], elem_id="checkpoint")
                deploy_checkpoint = gr.Button("Deploy checkpoint", elem_id="deploy-checkpoint")
            with gr.Tab("Connect"):
                url = gr.Textbox(label="Server URL", placeholder="https://my-server:8000", elem_id="server-url")
                api_key = gr.Textbox(label="API key (if the server needs one)", type="password", elem_id="server-key")
                with gr.Row():
                    connect_btn = gr.Button("Connect", elem_id="connect")
                    use_own = gr.Button("Back to this app's server", elem_id="use-own")
    message = gr.Markdown(elem_id="model-message")
    return ModelPanel(card, zoo, device, deploy, checkpoint, deploy_checkpoint, url, api_key, connect_btn, use_own, message)


# --- handlers (plain functions: tested without a browser) ----------------------------------------
def deploy(ctx: AppContext, state: UserState, name: str | None, device: str) -> tuple[UserState, str, str]:
    """Load a zoo model on the connected server and predict with it from now on."""
    if not name:
        return state, gr.skip(), "Choose a model from the list first."
    return _load(state, lambda server: server.load_model(name, device=device or "auto"), f"Could not deploy {name}", "")


def deploy_checkpoint(ctx: AppContext, state: UserState, path: str | None, device: str) -> tuple[UserState, str, str]:
    """Send a checkpoint file to the connected server, load it there and predict with it."""
    if not path:
        return state, gr.skip(), "Upload a checkpoint file first."
    try:
        uploaded_file(path, "The checkpoint")
    except InputError as exc:
        return state, gr.skip(), f"**Could not deploy this checkpoint:** {describe(exc)}"
    return _load(state, lambda server: server.upload_model(path, device=device or "auto"), "Could not deploy this checkpoint",
                 " from the uploaded checkpoint")


def _load(state: UserState, load: Callable[[RemoteModel], ModelInfo], failed: str, how: str) -> tuple[UserState, str, str]:
    """Load a model on the connected server with ``load``; the tab then predicts with it."""
    server = state.connection.model
    try:
        info = load(server)
    except SightlineError as exc:
        return state, gr.skip(), f"**{failed}:** {describe(exc)}"
    state.connection = Connection(server.use_model(info.name), state.connection.label)
    return state, model_card(state.connection.model.info, state.connection.label), f"Deployed **{info.name}**{how} on {info.device}."


def connect_to(ctx: AppContext, state: UserState, url: str, api_key: str) -> tuple[UserState, str, str]:
    """Predict with the default model of another sightline server from now on."""
    url = (url or "").strip().rstrip("/")
    if not url:
        return state, gr.skip(), "Enter the URL of a sightline server."
    try:
        check_url(url, ctx.config.allow_private_urls)
        model: RemoteModel = connect(url, api_key.strip() or None, timeout=ctx.connect_timeout, max_retries=1)
    except SightlineError as exc:
        return state, gr.skip(), f"**Could not connect to {url}:** {describe(exc)}"
    state.connection = Connection(model, url)
    return state, model_card(model.info, url), f"Connected to **{url}**: predicting with **{model.info.name}**."


def use_own(ctx: AppContext, state: UserState) -> tuple[UserState, str, str]:
    state.connection = ctx.own_connection(state.browser)
    return state, model_card(state.connection.model.info, state.connection.label), "Back on this app's server."


def wire(panel: ModelPanel, ctx: AppContext, state: gr.State, on_change: list) -> None:
    """``on_change`` lists events' follow-ups (other panels refreshing their class lists etc.)."""
    outputs = [state, panel.card, panel.message]
    events = [
        panel.deploy.click(lambda s, n, d: deploy(ctx, s, n, d), [state, panel.zoo, panel.device], outputs),
        panel.deploy_checkpoint.click(lambda s, p, d: deploy_checkpoint(ctx, s, p, d), [state, panel.checkpoint, panel.device], outputs),
        panel.connect.click(lambda s, u, k: connect_to(ctx, s, u, k), [state, panel.url, panel.api_key], outputs),
        panel.use_own.click(lambda s: use_own(ctx, s), [state], outputs),
    ]
    for event in events:
        for fn, inputs, outs in on_change:
            event.then(fn, inputs, outs)
