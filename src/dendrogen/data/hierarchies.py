"""Class names and true class hierarchies of the known data sets.

A hierarchy is a :class:`dendrogen.tree.Tree` whose **leaf ids are the class ids** (``0..K-1``),
so a label array indexes the tree directly (D_tree in ``dendrogen.metrics`` needs exactly this).
Internal nodes get the ids ``K, K+1, ...`` with the root at ``K``; every node carries
``attrs["name"]``. Leaves are ordered as in the specification, not by id.

Hierarchies are written as nested mappings: ``{group: {subgroup: [class ids]}}``. The innermost
groups (those mapping to class lists) are the *coarse* classes of a data set, numbered in the
order they appear; :func:`coarse_labels_of` gives the fine -> coarse map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dendrogen.tree import Tree

__all__ = [
    "CELEBA_ATTRIBUTES",
    "CIFAR10_CLASSES",
    "CIFAR100_CLASSES",
    "CIFAR100_SPEC",
    "CIFAR100_SUPERCLASSES",
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SPEC",
    "NEWSGROUPS_CLASSES",
    "NEWSGROUPS_SPEC",
    "OMNIGLOT5_ALPHABETS",
    "OMNIGLOT_ALPHABETS",
    "chain_hierarchy",
    "coarse_hierarchy",
    "coarse_labels_of",
    "coarse_names_of",
    "flat_hierarchy",
    "hierarchy_from_spec",
]

Spec = Mapping[str, Any] | Sequence[int]

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# htvae.md "True hierarchies": depth 3, the paper names the groups; which class goes where is
# the documented choice of htvae.md.
FASHION_MNIST_SPEC: Mapping[str, Any] = {
    "clothes": {"light tops": [0, 6], "heavy tops": [2, 4], "bottoms": [1], "dresses": [3]},
    "accessories": {"bags": [8], "footwear": [5, 7, 9]},
}

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

# The order of the CIFAR-100 'meta' file (alphabetical).
CIFAR100_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

_CIFAR100_GROUPS: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_SUPERCLASSES: tuple[str, ...] = tuple(_CIFAR100_GROUPS)
CIFAR100_SPEC: Mapping[str, Any] = {
    group: [CIFAR100_CLASSES.index(c) for c in members]
    for group, members in _CIFAR100_GROUPS.items()
}

NEWSGROUPS_CLASSES: tuple[str, ...] = (
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware", "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles",
    "rec.sport.baseball", "rec.sport.hockey", "sci.crypt", "sci.electronics", "sci.med",
    "sci.space", "soc.religion.christian", "talk.politics.guns", "talk.politics.mideast",
    "talk.politics.misc", "talk.religion.misc",
)  # fmt: skip

# The six subject groups of the 20 Newsgroups home page (J. Rennie): a documented choice, the
# papers give no hierarchy for this data set.
NEWSGROUPS_SPEC: Mapping[str, Any] = {
    "computers": [1, 2, 3, 4, 5],
    "recreation": [7, 8, 9, 10],
    "science": [11, 12, 13, 14],
    "politics": [16, 17, 18],
    "religion": [0, 15, 19],
    "for sale": [6],
}

# The 30 alphabets of images_background then the 20 of images_evaluation, sorted together.
OMNIGLOT_ALPHABETS: tuple[str, ...] = tuple(sorted((
    "Alphabet_of_the_Magi", "Anglo-Saxon_Futhorc", "Arcadian", "Armenian",
    "Asomtavruli_(Georgian)", "Balinese", "Bengali", "Blackfoot_(Canadian_Aboriginal_Syllabics)",
    "Braille", "Burmese_(Myanmar)", "Cyrillic", "Early_Aramaic", "Futurama", "Grantha", "Greek",
    "Gujarati", "Hebrew", "Inuktitut_(Canadian_Aboriginal_Syllabics)", "Japanese_(hiragana)",
    "Japanese_(katakana)", "Korean", "Latin", "Malay_(Jawi_-_Arabic)", "Mkhedruli_(Georgian)",
    "N_Ko", "Ojibwe_(Canadian_Aboriginal_Syllabics)", "Sanskrit", "Syriac_(Estrangelo)",
    "Tagalog", "Tifinagh",
    "Angelic", "Atemayar_Qelisayer", "Atlantean", "Aurek-Besh", "Avesta", "Ge_ez", "Glagolitic",
    "Gurmukhi", "Kannada", "Keble", "Malayalam", "Manipuri", "Mongolian",
    "Old_Church_Slavonic_(Cyrillic)", "Oriya", "Sylheti", "Syriac_(Serto)", "Tengwar", "Tibetan",
    "ULOG",
)))  # fmt: skip

# treevae.md §8: the five alphabets of Omniglot-5, in the order that defines their labels.
OMNIGLOT5_ALPHABETS: tuple[str, ...] = (
    "Braille", "Glagolitic", "Old_Church_Slavonic_(Cyrillic)", "Oriya", "Bengali",
)  # fmt: skip

CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes",
    "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip


# ---------------------------------------------------------------------------- builders
def hierarchy_from_spec(spec: Spec, class_names: Sequence[str], root_name: str = "root") -> Tree:
    """Build a class hierarchy from a nested specification.

    Args:
        spec: a list of class ids (the root's children) or a mapping ``{group name: spec}``,
            nested to any depth; every class id ``0..K-1`` must appear exactly once.
        class_names: the K class names; leaf ``k`` gets ``attrs["name"] = class_names[k]``.
        root_name: the root's name.

    Returns:
        A Tree with leaves ``0..K-1`` (the class ids), root ``K`` and internal nodes ``K+1, ...``.
    """
    n = len(class_names)
    parents: dict[int, int | None] = {n: None}
    names: dict[int, str] = {n: root_name}
    seen: set[int] = set()
    internal = [n]  # ids of internal nodes, in creation order

    def add(parent: int, sub: Spec) -> None:
        if isinstance(sub, Mapping):
            for name, child_spec in sub.items():
                node = n + len(internal)
                internal.append(node)
                parents[node] = parent
                names[node] = str(name)
                add(node, child_spec)
            return
        for k in sub:
            k = int(k)
            if not 0 <= k < n:
                raise ValueError(f"class id {k} is outside 0..{n - 1}")
            if k in seen:
                raise ValueError(f"class id {k} appears twice in the hierarchy")
            seen.add(k)
            parents[k] = parent
            names[k] = str(class_names[k])

    add(n, spec)
    missing = sorted(set(range(n)) - seen)
    if missing:
        raise ValueError(f"classes {missing} are missing from the hierarchy")
    tree = Tree.from_parents(parents)
    for node, name in names.items():
        tree.attrs(node)["name"] = name
    return tree


def flat_hierarchy(class_names: Sequence[str]) -> Tree:
    """root -> classes: every pair of distinct classes is 2 edges apart."""
    return hierarchy_from_spec(list(range(len(class_names))), class_names)


def chain_hierarchy(class_names: Sequence[str], depth: int = 3) -> Tree:
    """Every class at the end of its own chain of one-child nodes, ``depth`` edges below the root.

    htvae.md's default for MNIST (depth 3): two distinct classes are ``2 * depth`` apart.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    n = len(class_names)
    parents: dict[int, int | None] = {n: None}
    names: dict[int, str] = {n: "root"}
    next_id = n + 1
    for k, name in enumerate(class_names):
        parent = n
        for _ in range(depth - 1):
            node, next_id = next_id, next_id + 1
            parents[node] = parent
            names[node] = str(name)
            parent = node
        parents[k] = parent
        names[k] = str(name)
    tree = Tree.from_parents(parents)
    for node, name in names.items():
        tree.attrs(node)["name"] = name
    return tree


def _leaf_groups(spec: Spec, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], list]]:
    """The innermost groups (mapping entries whose value is a list of class ids), in order."""
    if not isinstance(spec, Mapping):
        return []
    out: list[tuple[tuple[str, ...], list]] = []
    for name, sub in spec.items():
        if isinstance(sub, Mapping):
            out.extend(_leaf_groups(sub, (*path, str(name))))
        else:
            out.append(((*path, str(name)), [int(k) for k in sub]))
    return out


def coarse_names_of(spec: Spec) -> tuple[str, ...]:
    """Names of the coarse classes (the innermost groups), in coarse-id order."""
    return tuple(path[-1] for path, _ in _leaf_groups(spec))


def coarse_labels_of(spec: Spec, n_classes: int) -> np.ndarray:
    """The fine -> coarse map, shape (K,), int64: ``coarse = fine_to_coarse[fine]``."""
    mapping = np.full(n_classes, -1, dtype=np.int64)
    for c, (_, members) in enumerate(_leaf_groups(spec)):
        mapping[members] = c
    if (mapping < 0).any():
        raise ValueError(f"classes {np.flatnonzero(mapping < 0).tolist()} have no coarse group")
    return mapping


def coarse_hierarchy(spec: Spec) -> Tree:
    """The hierarchy of the coarse classes: ``spec`` with each innermost group made a leaf."""
    counter = iter(range(len(_leaf_groups(spec))))

    def shrink(sub: Spec) -> Spec:
        assert isinstance(sub, Mapping)
        if all(not isinstance(v, Mapping) for v in sub.values()):
            return [next(counter) for _ in sub]
        return {
            name: (shrink(v) if isinstance(v, Mapping) else [next(counter)])
            for name, v in sub.items()
        }

    return hierarchy_from_spec(shrink(spec), coarse_names_of(spec))
