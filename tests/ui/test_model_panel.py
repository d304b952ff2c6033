"""Model panel: deploy from the zoo or a checkpoint, connect to another server, back to the app's own."""

from __future__ import annotations

import html

import pytest

from sightline.paths import DEMO_CHECKPOINT
from sightline.ui import model_panel, settings_panel
from sightline.ui.context import OWN_LABEL
from tests.ui.conftest import is_skip, make_ctx, uploaded


@pytest.fixture()
def own(start_server):  # type: ignore[no-untyped-def]
    """A server of its own per test: deploying changes what it has loaded."""
    context = make_ctx(start_server().url)
    yield context
    context.own.close()


def test_connect_refuses_private_addresses_on_a_public_deployment(start_server):
    public = make_ctx(start_server().url, allow_private_urls=False)
    state = public.new_user()
    other = start_server()
    for url in (other.url, "http://localhost:9/"):
        state, card, message = model_panel.connect_to(public, state, url, "")
        assert is_skip(card) and message.startswith("**Could not connect to ") and "private or loopback" in message
        assert state.connection.label == OWN_LABEL
    state, card, message = model_panel.connect_to(public, state, "  ", "")
    assert is_skip(card) and message == "Enter the URL of a sightline server."
    state, card, message = model_panel.connect_to(public, state, "ftp://example.com", "")
    assert is_skip(card) and "must be an absolute http:// or https:// URL" in message


def test_connect_with_an_api_key_and_back(own, start_server):
    secured = start_server(api_key="s3cret")
    state = own.new_user()

    state, card, message = model_panel.connect_to(own, state, secured.url + "/", "wrong")
    assert is_skip(card) and message.startswith(f"**Could not connect to {secured.url}:**") and "API key" in message
    assert state.connection.label == OWN_LABEL

    state, card, message = model_panel.connect_to(own, state, secured.url, " s3cret ")
    assert message == f"Connected to **{secured.url}**: predicting with **demo/shapes**."
    assert f"served by {secured.url}" in card and "data-model='demo/shapes'" in card
    assert state.connection.label == secured.url
    assert state.connection.model.url.rstrip("/") == secured.url and state.connection.model.info.name == "demo/shapes"

    state, card, message = model_panel.use_own(own, state)
    assert state.connection.label == OWN_LABEL and state.connection.model is own.own
    assert message == "Back on this app's server." and f"served by {html.escape(OWN_LABEL)}" in card


def test_connect_to_a_server_that_is_not_there_is_a_message(own):
    state = own.new_user()
    state, card, message = model_panel.connect_to(own, state, "http://127.0.0.1:1", "")
    assert is_skip(card) and message.startswith("**Could not connect to http://127.0.0.1:1:**") and "Traceback" not in message
    assert state.connection.label == OWN_LABEL


def test_deploy_from_the_zoo(own):
    state = own.new_user()
    before = state.connection

    state, card, message = model_panel.deploy(own, state, "nope/unknown", "cpu")
    assert is_skip(card) and message.startswith("**Could not deploy nope/unknown:**") and "Traceback" not in message
    assert state.connection is before

    state, card, message = model_panel.deploy(own, state, None, "cpu")
    assert is_skip(card) and message == "Choose a model from the list first." and state.connection is before

    state, card, message = model_panel.deploy(own, state, "demo/shapes", "cpu")
    assert message == "Deployed **demo/shapes** on cpu." and "data-model='demo/shapes'" in card and "device <b>cpu</b>" in card
    assert state.connection.label == OWN_LABEL


def test_deploy_a_checkpoint(own, upload_folder):
    state = own.new_user()
    state, card, message = model_panel.deploy_checkpoint(own, state, None, "cpu")
    assert is_skip(card) and message == "Upload a checkpoint file first."

    garbage = upload_folder / "model.pt"
    garbage.write_bytes(b"not a checkpoint at all" * 100)
    state, card, message = model_panel.deploy_checkpoint(own, state, str(garbage), "cpu")
    assert is_skip(card) and message.startswith("**Could not deploy this checkpoint:**") and "Traceback" not in message
    assert state.connection.model is own.own

    state, card, message = model_panel.deploy_checkpoint(own, state, str(uploaded(upload_folder, DEMO_CHECKPOINT)), "auto")
    name = state.connection.model.info.name
    assert DEMO_CHECKPOINT.name == "shapes.pt" and name == "shapes"
    assert message == "Deployed **shapes** from the uploaded checkpoint on cpu." and "data-model='shapes'" in card
    assert state.connection.label == OWN_LABEL and state.connection.model is not own.own
    # the other panels follow the new model: the settings list its classes
    classes, _, _ = settings_panel.refresh(state)
    assert classes["choices"] == state.connection.model.info.classes


@pytest.mark.parametrize("path", ["/etc/passwd", str(DEMO_CHECKPOINT)])
def test_a_checkpoint_that_was_not_uploaded_is_refused(own, path):
    """A server path that reaches the handler (not through Gradio's upload cache) is never read or deployed."""
    state = own.new_user()
    state, card, message = model_panel.deploy_checkpoint(own, state, path, "cpu")
    assert is_skip(card) and state.connection.model is own.own
    name = path.rsplit("/", 1)[-1]
    assert message == (f"**Could not deploy this checkpoint:** The checkpoint '{name}' was not uploaded through this page: "
                       "only files you upload here can be used.")


def test_a_public_server_refuses_image_urls_inside_its_network(start_server, file_server):
    from sightline.ui import review_panel, run_panel
    from tests.ui.conftest import settings, sources, tick_until_final

    public = make_ctx(start_server(allow_private_urls=False).url, allow_private_urls=False)
    state = public.new_user()
    state, _, message, _, _ = run_panel.start(public, state, sources("urls", urls=f"{file_server}/img_00.png"), settings())
    if state.run is None:  # refused before the run starts
        assert "private or loopback" in message
        return
    tick_until_final(state)
    text = review_panel.counts(state.run, 0.0)
    assert "img_00.png" in text and "private or loopback" in text
    assert all(p.error for p in state.run.predictions)


def test_a_public_server_refuses_to_change_its_model_and_the_page_says_why(start_server, upload_folder):
    public = make_ctx(start_server(allow_model_admin=False).url)
    state = public.new_user()
    state, card, message = model_panel.deploy(public, state, "demo/shapes", "cpu")
    assert is_skip(card) and message.startswith("**Could not deploy demo/shapes:**")
    assert "turned off on this server" in message and "SIGHTLINE_ALLOW_MODEL_ADMIN=1" in message and "Traceback" not in message
    path = uploaded(upload_folder, DEMO_CHECKPOINT, "public.pt")
    state, card, message = model_panel.deploy_checkpoint(public, state, str(path), "cpu")
    assert is_skip(card) and "turned off on this server" in message


def test_each_browser_owns_its_runs_on_the_apps_own_server(start_server, samples):
    import sightline
    from sightline.ui import run_panel

    ctx = make_ctx(start_server().url)
    ann = run_panel.restore(ctx, None, "tab-ann-0001", "browser-ann-0001")[0]
    bob = run_panel.restore(ctx, None, "tab-bob-0001", "browser-bob-0001")[0]
    assert ann.connection.label == bob.connection.label == OWN_LABEL
    session = ann.connection.model.predict_detached(input=[s.image for s in samples[:2]])
    session.wait_done(120)
    assert len(ann.connection.model.session(session.id).results()) == 2
    with pytest.raises(sightline.NotFoundError):  # another browser's page cannot read it, even knowing its id
        bob.connection.model.session(session.id)
    # the same browser after a reload (a new tab state) still can
    again = run_panel.restore(ctx, None, "tab-ann-0002", "browser-ann-0001")[0]
    assert again.connection.model.session(session.id).status().done == 2
    state, _, _ = model_panel.use_own(ctx, again)
    assert state.connection.model.client_id == again.connection.model.client_id
