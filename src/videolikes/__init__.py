"""videolikes: the likes service of a video site."""
