package dev.loraworkbench.kernel;

import java.util.List;
import org.dflib.jjava.jupyter.kernel.display.DisplayDataRenderable;
import org.dflib.jjava.jupyter.kernel.display.RenderContext;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;

/** A small table (such as a command's --csv output) that a notebook shows as HTML, and toString() as aligned text. */
public record Table(List<String> header, List<List<String>> rows) implements DisplayDataRenderable {
    public Table {
        header = List.copyOf(header);
        rows = rows.stream().map(List::copyOf).toList();
    }

    /** The cells of one column, by header name. */
    public List<String> column(String name) {
        int c = header.indexOf(name);
        if (c < 0) throw new IllegalArgumentException("no column " + name + " in " + header);
        return rows.stream().map(r -> r.get(c)).toList();
    }

    public String html() {
        StringBuilder sb = new StringBuilder("<table>\n<thead><tr>");
        header.forEach(h -> sb.append("<th style=\"text-align:left\">").append(escape(h)).append("</th>"));
        sb.append("</tr></thead>\n<tbody>\n");
        for (List<String> row : rows) {
            sb.append("<tr>");
            row.forEach(cell -> sb.append("<td style=\"text-align:left\">").append(escape(cell)).append("</td>"));
            sb.append("</tr>\n");
        }
        return sb.append("</tbody>\n</table>").toString();
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    @Override
    public java.util.Set<MIMEType> getPreferredRenderTypes() { return java.util.Set.of(MIMEType.TEXT_HTML); }

    @Override
    public void render(RenderContext context) {
        context.renderIfRequested(MIMEType.TEXT_HTML, this::html);
        context.renderIfRequested(MIMEType.TEXT_PLAIN, this::toString);
    }

    @Override
    public String toString() {
        int[] width = new int[header.size()];
        for (int c = 0; c < width.length; c++) {
            width[c] = Math.max(1, header.get(c).length()); // %-0s is not a format
            for (List<String> row : rows) width[c] = Math.max(width[c], row.get(c).length());
        }
        StringBuilder sb = new StringBuilder();
        for (List<String> row : java.util.stream.Stream.concat(java.util.stream.Stream.of(header), rows.stream()).toList()) {
            for (int c = 0; c < row.size(); c++) sb.append(String.format("%-" + width[c] + "s", row.get(c))).append(c + 1 < row.size() ? "  " : "\n");
        }
        return sb.toString();
    }
}
