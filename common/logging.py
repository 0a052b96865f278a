"""Keeps personnummer out of log files: every record's rendered message is masked before output."""

from __future__ import annotations

import logging

from organisation.personnummer import mask_in_text


class PersonalDataMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
