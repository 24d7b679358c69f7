"""The HTTP layer: thin routes (parse -> store -> wire model), one module per resource."""
