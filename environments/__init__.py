"""Task families in METR's Task Standard format and the catalogue that finds them on disk."""
