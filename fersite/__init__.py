"""The Django project of the facial emotion recognition site."""

__version__ = "0.1.0"
