"""Pictures (matplotlib): sample grids, the learned tree with images per node, SOM maps."""

from dendrogen.plots.grids import image_grid, plot_samples, save_figure, show_samples

__all__ = ["image_grid", "plot_samples", "save_figure", "show_samples"]
