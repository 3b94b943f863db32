"""forgetscope: is a capability lost by fine-tuning gone, or only no longer used?"""

__version__ = "0.1.0"
