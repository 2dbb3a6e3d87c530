"""The re-planner's heartbeat line on the ops dashboard (``ops/_health.html``)."""

from __future__ import annotations

LABELS: dict[str, tuple[str, str]] = {
    "health.seen": ("Re-planner last seen {ago} ago", "重新排程程序最近一次心跳：{ago}前"),
    "health.not_seen": (
        "Re-planner not seen: nothing is re-planning",
        "未见重新排程程序：当前没有进程在重新排程",
    ),
    "health.stale": ("stale: re-planning has stopped", "已失联：重新排程已停止"),
    "health.db_down": ("The database does not answer", "数据库无应答"),
    "health.state.idle": ("idle", "空闲"),
    "health.state.waiting": ("standing by (another worker plans)", "待命（另一个进程在排程）"),
    "health.state.solving": ("solving for {ago}", "正在求解，已用 {ago}"),
    "health.state.error": ("failing: {n} ticks in a row", "连续失败 {n} 次"),
    "health.state.stopped": ("stopped", "已停止"),
    "health.standby": ("{n} more standing by", "另有 {n} 个进程待命"),
    "health.last_error": ("last error: {error}", "最近的错误：{error}"),
    "health.plan_age": ("published plan made {ago} ago", "已发布方案生成于 {ago}前"),
    "health.no_plan": ("no published plan yet", "尚无已发布方案"),
    "health.sec": ("{n} s", "{n} 秒"),
    "health.min": ("{n} min", "{n} 分钟"),
    "health.hours": ("{n} h", "{n} 小时"),
}
