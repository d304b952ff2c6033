"""The SDK's server side: HTTP transport, the remote model, remote sessions, futures, deploy/connect."""
