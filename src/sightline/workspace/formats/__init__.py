"""Import and export: Supervisely-format project folders, COCO instances, YOLO."""
