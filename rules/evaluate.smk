# evaluate rules: see DESIGN.md. (Filled in by the issue that builds this stage.)
