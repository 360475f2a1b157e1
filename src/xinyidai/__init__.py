"""xinyidai (信易贷): a node of China's network of SME financing credit service platforms."""

__version__ = "0.1.0"
