"""The information list (信用信息共享清单) as data: categories, items, providers, sensitivity."""

from xinyidai.catalog.schema import Catalog, Category, Item, load_catalog

__all__ = ["Catalog", "Category", "Item", "load_catalog"]
