"""``imagenet-e demo``: the whole benchmark end to end on the embedded default photos (see ``run``)."""
