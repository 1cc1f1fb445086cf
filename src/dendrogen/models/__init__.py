"""Models: one module (or small package) per family; each is a config plus a torch module whose
methods compute named loss terms. No training loops here (see ``dendrogen.training``)."""
