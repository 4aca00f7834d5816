"""The surveys domain: questionnaires, distribution, responses, analysis runs and reports."""
