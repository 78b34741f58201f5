"""The StratosCluster operator: pure builders for every child object, and kopf handlers that
apply them server-side and report status."""
