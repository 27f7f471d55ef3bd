"""The staged import shared by files, pushed events and streams: read, assess, book."""
