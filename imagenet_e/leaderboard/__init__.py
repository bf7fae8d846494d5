"""The ImageNet-E leaderboard: results files -> ranked table (``table``), the Gradio Space app
(``app``), and ``imagenet-e submit`` (``submit``)."""
