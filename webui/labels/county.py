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
        "Stored {rows} rows ({batches} new boxes); {errors} rows had errors and were left out.",
        "已保存 {rows} 行（新增 {batches} 批样本）；{errors} 行有错误未保存。",
    ),
    "county.duplicate": (
        "This file was stored before; nothing changed.",
        "该文件此前已保存，未做更改。",
    ),
    "county.rejected": (
        "Nothing was stored: {errors} problems. Fix them and check again.",
        "未保存：发现 {errors} 个问题，请修改后重新检查。",
    ),
    "county.preview_title": ("Check of {file}", "文件检查：{file}"),
    "county.preview_bad": (
        "{errors} problems in {rows} rows ({valid} rows are fine). Bad cells are marked below.",
        "{rows} 行中有 {errors} 个问题（{valid} 行无误）。错误单元格已在下方标出。",
    ),
    "county.preview_ok": (
        "All {rows} rows are fine. Store them?",
        "全部 {rows} 行无误，是否保存？",
    ),
    "county.preview_rows": (
        "Showing {shown} of {total} rows (every row with a problem).",
        "显示 {total} 行中的 {shown} 行（含所有有问题的行）。",
    ),
    "county.accept_valid": (
        "Store the {valid} good rows and leave out the rest",
        "仅保存 {valid} 行正确数据，其余不保存",
    ),
    "county.commit": ("Store the file", "保存文件"),
    "county.on_time": ("on time", "按时"),
    "county.late": ("late", "超时"),
    "county.in_time": ("On time?", "是否按时"),
    "county.all_errors": ("All {n} problems as a list", "全部 {n} 个问题列表"),
    "county.general_errors": ("Problems with the whole file", "文件整体问题"),
    "county.warnings": (
        "{n} rows to check (they are stored as they are)",
        "{n} 行需核对（按原样保存）",
    ),
}
