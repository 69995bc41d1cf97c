"""The stack's guardrails: AWS FSBP controls as pure rules (`policy.rules`), run by CrossGuard (`__main__.py`)."""
