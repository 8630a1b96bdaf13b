"""The API's routes, a module per concern, each thin: parse, pick the model, call, answer.

Every handler is registered from its row of ``visionserve.ingress.routes`` and reaches the
replicas only through the request's ``Services`` (the gateway), so a router can be tested
against a fake gateway without Ray.
"""
