"""graphcl.augment"""
