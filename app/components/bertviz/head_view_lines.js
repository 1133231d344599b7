// LM Workbench: bertviz's head view, one composited line per (query, key) pair instead of one
// line per head (app/components/bertviz/offline.py says why). Swapped in for bertviz's own
// renderAttention / updateAttention; the opacity floor (a placeholder) comes from Python.
    function renderAttention(svg, attention) {
        renderAttention.attention = attention;  // what a head toggle redraws
        const active = activeHeads(), x1 = BOXWIDTH, x2 = BOXWIDTH + MATRIX_WIDTH, parts = [];
        const colors = attention.map((_, h) => d3.rgb(headColors(h)));
        const rows = attention.length ? attention[0].length : 0;
        for (let i = 0; i < rows; i++) {
            const y1 = TEXT_TOP + i * BOXHEIGHT + BOXHEIGHT / 2;
            parts.push(`<g class="tokenAttention" left-token-index="${i}">`);
            for (let j = 0; j < attention[0][i].length; j++) {
                let r = 0, g = 0, b = 0, a = 0;  // premultiplied, heads composited in bertviz's order
                for (let h = 0; h < attention.length; h++) {
                    const alpha = config.headVis[h] ? attention[h][i][j] / active : 0;
                    if (!(alpha >= MIN_OPACITY)) continue;
                    const c = colors[h];
                    r = c.r * alpha + r * (1 - alpha);
                    g = c.g * alpha + g * (1 - alpha);
                    b = c.b * alpha + b * (1 - alpha);
                    a = alpha + a * (1 - alpha);
                }
                if (!(a >= MIN_OPACITY)) continue;
                const colour = `rgb(${Math.round(r / a)},${Math.round(g / a)},${Math.round(b / a)})`;
                parts.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${TEXT_TOP + j * BOXHEIGHT + BOXHEIGHT / 2}" `
                    + `left-token-index="${i}" right-token-index="${j}" stroke="${colour}" stroke-opacity="${a.toFixed(4)}"></line>`);
            }
            parts.push("</g>");
        }
        const group = document.createElementNS("http://www.w3.org/2000/svg", "g");
        group.setAttribute("id", "attention");
        group.setAttribute("stroke-width", "2");
        group.innerHTML = parts.join("");
        const old = svg.select("#attention").node();
        if (old) old.replaceWith(group); else svg.node().appendChild(group);
    }

    function updateAttention(svg) {
        renderAttention(svg, renderAttention.attention);
    }
