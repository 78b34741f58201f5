"""Stratos compute service: runs WebAssembly jobs over files in the mesh on the nodes that hold
them, metered in fuel, each job on r workers that sign what they computed."""
