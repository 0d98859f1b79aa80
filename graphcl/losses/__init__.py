"""graphcl.losses"""
