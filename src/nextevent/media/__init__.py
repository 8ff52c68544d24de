"""Media: probing (PyAV), shot boundaries (PySceneDetect), cutting (PyAV), frame sampling."""
