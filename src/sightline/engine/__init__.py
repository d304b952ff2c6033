"""The in-process engine: batched session runner, state machine, sessions."""
