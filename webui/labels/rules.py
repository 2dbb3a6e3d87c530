"""Messages of the service layer's rules (``scheduler.store.rules``), keyed ``rule.<code>``.

``webui.labels.violation`` fills them from a ``RuleViolation``'s params; box
states among the params are shown by their own labels (``common.status.*``).
"""

LABELS: dict[str, tuple[str, str]] = {
    "rule.lab_status.missing": (
        "Say what changed: a capacity, an outage from and to, or back to normal.",
        "请说明变化：检测能力、停机起止时间或恢复正常。",
    ),
    "rule.lab_status.ambiguous": (
        "Report one change at a time.",
        "每次只能报告一项变化。",
    ),
    "rule.capacity.out_of_range": (
        "Capacity must be a whole number of tubes per hour, between {lo} and {hi}.",
        "检测能力须为 {lo} 到 {hi} 之间的整数（每小时管数）。",
    ),
    "rule.hours.out_of_range": (
        "Opening and closing hours must be between {lo} and {hi}.",
        "开始和结束时间必须在 {lo} 到 {hi} 之间。",
    ),
    "rule.hours.equal": (
        "Opening and closing hours are equal: the lab would never be open.",
        "开始与结束时间相同：实验室将永不开放。",
    ),
    "rule.outage.order": ("An outage must end after it starts.", "停机结束时间须晚于开始时间。"),
    "rule.outage.out_of_range": (
        "An outage must start and end within {days} days of now.",
        "停机起止时间须在当前时间前后 {days} 天之内。",
    ),
    "rule.batch_status.unknown": ("Unknown box status {status}.", "未知的样本状态 {status}。"),
    "rule.batch_status.backwards": (
        "{batch} is {status}; it cannot go back to {to}.",
        "{batch} 已是{status}，不能退回到{to}。",
    ),
    "rule.batch_status.unpin_after_pickup": (
        "{batch} is {status}: it stays with its lab.",
        "{batch} 已是{status}：不能离开其实验室。",
    ),
    "rule.batch_status.already_received": (
        "{batch} is already {status}: it was received before, check the box.",
        "{batch} 已是{status}：此前已接收，请核对样本箱。",
    ),
    "rule.batch_status.nothing_to_undo": (
        "{batch} has no status change to undo.",
        "{batch} 没有可撤销的状态变更。",
    ),
    "rule.batch_status.undo_expired": (
        "{batch} became {status} more than {minutes} minutes ago: it can no longer be undone.",
        "{batch} 变为{status}已超过 {minutes} 分钟，不能再撤销。",
    ),
    "rule.batch_status.undo_superseded": (
        "{batch} was changed since ({action}): its status change can no longer be undone.",
        "{batch} 此后已有其他变更（{action}），不能再撤销其状态变更。",
    ),
    "rule.positive.single_tubes": (
        "{batch} holds single tubes: a positive there is a case, not a pool.",
        "{batch} 为单采单检：阳性即为病例，无需混采复检。",
    ),
    "rule.positive.out_of_range": (
        "Positive tubes must be between {lo} and {hi}.",
        "阳性管数须在 {lo} 到 {hi} 之间。",
    ),
}
