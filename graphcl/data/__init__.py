"""graphcl.data"""
