"""The pytest plugin (entry point ``hil.pytestplugin.plugin``): options, fixtures, outcomes and reports."""
