"""Pure, frozen domain records and the schemas of the frames the pipeline passes along."""
