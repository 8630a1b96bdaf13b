"""Why a model decided: explanation methods on plain torch modules, views and fidelity. No Ray.

Import from the modules (``visionserve.explain.methods``...): this package stays light so that
the ingress can read ``visionserve.explain.support`` without importing torch.
"""
