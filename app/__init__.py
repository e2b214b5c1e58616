"""The lumbarqi MONAI Deploy application (``python app -i IN -o OUT -m MODELS``)."""
