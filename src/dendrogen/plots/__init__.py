"""Pictures (matplotlib): sample grids, the learned tree with images per node, SOM maps, VLAC
components and traversals."""

from dendrogen.plots.attributes import plot_attribute_heatmap
from dendrogen.plots.grids import image_grid, plot_samples, save_figure, show_samples
from dendrogen.plots.som import plot_class_density, plot_maps
from dendrogen.plots.tree import plot_samples_per_leaf, plot_tree
from dendrogen.plots.vlac import plot_component_grid, plot_traversals, plot_vlac

__all__ = [
    "image_grid",
    "plot_attribute_heatmap",
    "plot_class_density",
    "plot_component_grid",
    "plot_maps",
    "plot_samples",
    "plot_samples_per_leaf",
    "plot_traversals",
    "plot_tree",
    "plot_vlac",
    "save_figure",
    "show_samples",
]
