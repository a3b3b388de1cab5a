"""Machine-learning core: plain Python, no ORM, no Django settings read at import time.

Heavy libraries (TensorFlow, torch) are imported only inside the functions that load a model,
so importing this package stays cheap for the web layer.
"""
