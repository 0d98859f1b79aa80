"""graphcl.walks"""
