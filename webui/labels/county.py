"""Labels of the county office pages."""

LABELS: dict[str, tuple[str, str]] = {
    "county.title": ("County office: {name}", "区县办公室：{name}"),
    "county.upload": ("Upload sample counts", "上报采样人数"),
    "county.drop_here": (
        "Drop a CSV or XLSX file here, or choose one:",
        "将 CSV 或 XLSX 文件拖到此处，或选择文件：",
    ),
    "county.formats": (
        "CSV (UTF-8 or GB18030) or XLSX, English or Chinese headers, at most {mb} MB.",
        "CSV（UTF-8 或 GB18030）或 XLSX，中英文表头均可，最大 {mb} MB。",
    ),
    "county.check": ("Check the file", "检查文件"),
    "county.template_csv": ("Template (CSV)", "模板（CSV）"),
    "county.template_xlsx": ("Template (XLSX)", "模板（XLSX）"),
    "county.history": ("Upload history", "上报记录"),
    "county.received": ("Received", "接收时间"),
    "county.user": ("By", "上报人"),
    "county.file": ("File", "文件"),
    "county.outcome": ("Outcome", "结果"),
    "county.outcome.stored": ("stored", "已保存"),
    "county.outcome.partial": ("stored in part", "部分保存"),
    "county.outcome.rejected": ("rejected", "已拒绝"),
    "county.outcome.duplicate": ("duplicate", "重复"),
    "county.rows": ("Rows stored", "保存行数"),
    "county.errors": ("Errors", "错误"),
    "county.row": ("Row", "行"),
    "county.no_uploads": ("No uploads yet.", "尚无上报记录。"),
    "county.where": ("Where your boxes go", "样本去向"),
    "county.not_planned": ("not planned yet", "尚未安排"),
    "county.no_boxes": ("No open boxes.", "没有待检样本。"),
    "county.no_file": ("Choose a file first.", "请先选择文件。"),
    "county.too_large": (
        "The file is over {mb} MB; nothing was stored.",
        "文件超过 {mb} MB，未保存任何内容。",
    ),
    "county.expired": (
        "That check has expired or is not yours; check the file again.",
        "该检查已过期或不属于您，请重新检查文件。",
    ),
    "county.job_started": (
        "The file is large: it is being stored in the background (job {job}).",
        "文件较大，正在后台保存（任务 {job}）。",
    ),
    "county.stored": (
        "Stored {rows} ({boxes}); left out {errors} with errors.",
        "已保存 {rows}（新增 {boxes}）；{errors}有错误，未保存。",
    ),
    "county.duplicate": (
        "This file was stored before; nothing changed.",
        "该文件此前已保存，未做更改。",
    ),
    "county.rejected": (
        "Nothing was stored: {problems}. Fix the file and check it again.",
        "未保存：发现 {problems}，请修改后重新检查。",
    ),
    "county.preview_title": ("Check of {file}", "文件检查：{file}"),
    "county.preview_bad": (
        "{problems} in {rows}; {valid} without problems. Bad cells are marked below.",
        "{rows}中有 {problems}（{valid}无误）。错误单元格已在下方标出。",
    ),
    "county.preview_ok.one": ("The row is fine. Store it?", "该行无误，是否保存？"),
    "county.preview_ok.many": (
        "All {n} rows are fine. Store them?",
        "全部 {n} 行无误，是否保存？",
    ),
    "county.preview_rows": (
        "Showing {shown} of {total} (every row with a problem).",
        "显示 {total}中的 {shown} 行（含所有有问题的行）。",
    ),
    "county.accept_valid": (
        "Store the {valid} without problems and leave out the rest",
        "仅保存无误的 {valid}，其余不保存",
    ),
    "county.commit": ("Store the file", "保存文件"),
    "county.on_time": ("on time", "按时"),
    "county.late": ("late", "超时"),
    "county.in_time": ("On time?", "是否按时"),
    "county.all_errors": ("The {problems} as a list", "{problems}列表"),
    "county.general_errors": ("Problems with the whole file", "文件整体问题"),
    "county.warnings": (
        "{rows} to check (stored as they are)",
        "{rows}需核对（按原样保存）",
    ),
    # a count and its noun: "1 row", "2 rows" (Chinese has one form)
    "county.n.row.one": ("{n} row", "{n} 行"),
    "county.n.row.many": ("{n} rows", "{n} 行"),
    "county.n.problem.one": ("{n} problem", "{n} 个问题"),
    "county.n.problem.many": ("{n} problems", "{n} 个问题"),
    "county.n.box.one": ("{n} box", "{n} 批样本"),
    "county.n.box.many": ("{n} boxes", "{n} 批样本"),
    "county.n.tube.one": ("{n} tube", "{n} 管"),
    "county.n.tube.many": ("{n} tubes", "{n} 管"),
    "county.n.new_box.one": ("{n} new box", "{n} 批样本"),
    "county.n.new_box.many": ("{n} new boxes", "{n} 批样本"),
    # the labels sheet
    "county.labels": ("Box labels", "样本箱标签"),
    "county.labels_title": ("Box labels: {name}", "样本箱标签：{name}"),
    "county.labels_day": ("Ready for pickup on", "待取日期"),
    "county.labels_show": ("Show", "显示"),
    "county.labels_all_days": ("Every day", "全部日期"),
    "county.labels_count": (
        "{boxes} not yet picked up, one label each.",
        "{boxes}尚未取走，每批一张标签。",
    ),
    "county.labels_none": (
        "No box waits for pickup on the published plan.",
        "已发布的计划中没有待取的样本箱。",
    ),
    "county.labels_no_plan": (
        "No plan is published yet: labels need each box's lab.",
        "尚未发布计划：标签需要每箱的目的实验室。",
    ),
    "county.label_to": ("To lab", "送往实验室"),
    "county.label_pickup": ("Pickup", "取样时间"),
    "county.back": ("Back to the county page", "返回区县页面"),
}


def count_key(noun: str, n: int) -> str:
    """The label key of ``n`` and ``noun`` (row, problem, box, new_box, tube) agreeing."""
    return f"county.n.{noun}.{'one' if n == 1 else 'many'}"
