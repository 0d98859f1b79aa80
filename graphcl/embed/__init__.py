"""graphcl.embed"""
