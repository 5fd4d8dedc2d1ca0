"""Built-in policy templates, one module per family; see ``registry``."""
