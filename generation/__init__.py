"""The ImageNet-E editing toolkit: masks, object removal, object transforms, background editors."""
