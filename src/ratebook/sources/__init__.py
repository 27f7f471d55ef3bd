"""Input adapters: feed formats and the readers that stream them in bounded chunks."""
