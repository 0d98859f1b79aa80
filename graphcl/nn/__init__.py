"""graphcl.nn"""
